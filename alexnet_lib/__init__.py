"""alexnet_lib: the components of Krizhevsky, Sutskever & Hinton (NIPS 2012), each written once.

Read a module next to the paper section its docstring names; the book's chapters import from here.
"""

__version__ = "0.1.0"
