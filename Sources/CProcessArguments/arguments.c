#include "CProcessArguments.h"

static int saved_argc;
static char *const *saved_argv;

/* glibc calls the executable's constructors with (argc, argv, envp). */
__attribute__((constructor)) static void finwatch_save_arguments(int argc, char *const *argv, char *const *envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

int finwatch_saved_argc(void) { return saved_argc; }
char *const *finwatch_saved_argv(void) { return saved_argv; }
