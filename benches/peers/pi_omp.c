/* OpenMP at its best: the course's loop with a 32-bit index, built with
 * gcc -O3 -march=native -ffast-math -fopenmp. Usage: pi_omp STEPS (threads: OMP_NUM_THREADS). */
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>

int main(int argc, char **argv) {
    long long steps_ll = argc > 1 ? atoll(argv[1]) : 100000000LL;
    if (steps_ll <= 0 || steps_ll > 2147483647LL) { fprintf(stderr, "steps must fit in 32 bits\n"); return 2; }
    int steps = (int)steps_ll;
    double step = 1.0 / steps, sum = 0.0;
    double t0 = omp_get_wtime();
#pragma omp parallel for reduction(+:sum)
    for (int i = 0; i < steps; i++) {
        double x = (i + 0.5) * step;
        sum += 4.0 / (1.0 + x * x);
    }
    double pi = step * sum;
    printf("%.17g %.6f\n", pi, omp_get_wtime() - t0);
    return 0;
}
