/* kvsgate: `kvsgate serve`. */
#ifndef KG_SERVICE_DAEMON_H
#define KG_SERVICE_DAEMON_H

int cmd_serve(int argc, char **argv);

#endif
