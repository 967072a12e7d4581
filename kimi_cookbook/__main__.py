import sys

try:
    from kimi_cookbook.cli import main
except KeyboardInterrupt:
    print("kimi-cookbook: interrupted (Ctrl-C) while starting", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
