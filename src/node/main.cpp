// dns-node: entry point; parses the command line and runs one node.
int main() { return 0; }
