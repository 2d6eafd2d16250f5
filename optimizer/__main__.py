from optimizer.cli import main

raise SystemExit(main())
