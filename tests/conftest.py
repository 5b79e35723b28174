import os
import sys

# tests/oracle.py and tests/cper_wrap.py are helper modules imported by the unit tests.
sys.path.insert(0, os.path.dirname(__file__))
