"""Lets the chaos tests import the cluster harness and chaos.py."""
import os
import sys

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration", "cluster"))
