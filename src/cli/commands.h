/* One entry point per subcommand: int cmd_<name>(int argc, char **argv), argv[0] = name. */
#ifndef VT_CLI_COMMANDS_H
#define VT_CLI_COMMANDS_H

int cmd_dim(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_rsm(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_gsn(int argc, char **argv);
int cmd_stimuli(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_srp(int argc, char **argv);
int cmd_reliability(int argc, char **argv);
int cmd_ridge(int argc, char **argv);
int cmd_nsd(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_brain(int argc, char **argv);
int cmd_ceiling(int argc, char **argv);
int cmd_import_neural(int argc, char **argv);
int cmd_results(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
