/* MPI as usually written: cyclic split of the indices, MPI_Reduce to rank 0.
 * Built with mpicc -O3; run as mpiexec -n 2 pi_mpi STEPS. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long steps = argc > 1 ? atol(argv[1]) : 100000000L;
    double step = 1.0 / (double)steps, local = 0.0, sum = 0.0;
    double t0 = MPI_Wtime();
    for (long i = rank; i < steps; i += size) {
        double x = (i + 0.5) * step;
        local += 4.0 / (1.0 + x * x);
    }
    MPI_Reduce(&local, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("%.17g %.6f\n", step * sum, MPI_Wtime() - t0);
    MPI_Finalize();
    return 0;
}
