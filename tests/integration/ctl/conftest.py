"""Lets the dns-nodectl tests import the cluster harness."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cluster"))
