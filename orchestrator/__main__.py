from orchestrator.interfaces.cli import main

raise SystemExit(main())
