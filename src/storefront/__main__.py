from storefront.cli import main

raise SystemExit(main())
