"""SGLang model classes of the cookbook, loaded by SGLang itself through ``SGLANG_EXTERNAL_MODEL_PACKAGE``.

``SGLANG_EXTERNAL_MODEL_PACKAGE=kimi_cookbook.sglang_ext`` makes every SGLang server process import the modules of
this package and register their ``EntryClass`` over SGLang's own (srt/models/registry.py, ``overwrite=True``). Only
``kimi_linear`` is here: Kimi-Linear for random-weight (``--load-format dummy``) speed runs. Importing this package
needs nothing; importing ``kimi_linear`` needs SGLang and torch (a GPU host).
"""
