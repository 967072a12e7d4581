from kimi_cookbook.cli import main

raise SystemExit(main())
