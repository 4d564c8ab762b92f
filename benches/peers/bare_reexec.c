/* The floor under any re-exec runtime: a small C program that posix_spawns itself N times,
 * the children exiting at once, and waits for them all. Prints the elapsed milliseconds.
 * Usage: bare_reexec N */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
extern char **environ;
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return 0;
    int n = argc > 1 ? atoi(argv[1]) : 64;
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pids[1024];
    char *args[] = {argv[0], "child", NULL};
    for (int i = 0; i < n; i++) posix_spawn(&pids[i], "/proc/self/exe", NULL, NULL, args, environ);
    for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
}
