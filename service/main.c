/* kvsgate's main: everything else lives in the library so tests link it too. */
#include "service/cli.h"

int main(int argc, char **argv) { return kvsgate_main(argc, argv); }
