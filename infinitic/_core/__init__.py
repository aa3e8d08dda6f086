"""Hot paths, compiled with Cython, each with a pure-Python twin. Imports the standard library only."""
