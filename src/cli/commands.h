/* One entry point per subcommand: int cmd_<name>(int argc, char **argv), argv[0] = name. */
#ifndef VT_CLI_COMMANDS_H
#define VT_CLI_COMMANDS_H

int cmd_dim(int argc, char **argv);
int cmd_stimuli(int argc, char **argv);

#endif
