from agentreel.cli import main

main()
