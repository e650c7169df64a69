from vsearch.cli import main

main()
