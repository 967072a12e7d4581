"""Sphinx configuration of the cookbook's static site (`make site`, scripts/build_site.py).

The sources are staged by scripts/build_site.py into build/site-src/ (notebooks, index, validation pages, the
selector page); this folder holds only the configuration and the static files. Notebooks are never executed: the
outputs kept in git are what the site shows.
"""

project = "Kimi-Linear on SGLang: a hands-on cookbook"
author = "kimi-cookbook contributors"
copyright = "kimi-cookbook contributors, Apache-2.0"

extensions = ["myst_nb"]
# the notebooks' kept outputs are the truth: render them as stored, run nothing
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3  # "#section-title" anchors in markdown links resolve (and are checked)
# a notebook may open a section at level 3 (its cells are short); a committed log's code fence may name a language
# Pygments does not know (shown unhighlighted). Broken links, missing files and anchors stay errors.
suppress_warnings = ["myst.header", "misc.highlighting_failure"]

# text as written: "--flag" stays two hyphens (no en dash), quotes stay straight
smartquotes = False

# warnings fail the build (sphinx-build -W, with nitpicky references)
nitpicky = True

html_theme = "sphinx_book_theme"
html_title = "Kimi-Linear on SGLang"
html_static_path = ["_static"]
html_css_files = ["selector.css"]
html_js_files = [("selector.js", {"defer": "defer"})]  # mounts only where a page has #kimi-selector
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    # nothing is fetched from the network when the site is read offline, and no launch button needs a repository
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
exclude_patterns = ["**/.ipynb_checkpoints"]
