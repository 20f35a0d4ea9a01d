from valuestream.cli import main

main()
