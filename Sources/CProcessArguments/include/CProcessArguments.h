#ifndef FINWATCH_CPROCESSARGUMENTS_H
#define FINWATCH_CPROCESSARGUMENTS_H

/// argc and argv as glibc handed them to the program's constructors, before main: Swift's
/// CommandLine reads /proc/self/cmdline instead, which a sandbox may hide.
int finwatch_saved_argc(void);
char *const *finwatch_saved_argv(void);

#endif
