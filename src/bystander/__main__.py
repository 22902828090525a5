from bystander.cli.app import main

main()
