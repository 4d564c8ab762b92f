/* Two MPI ranks of one machine moving messages, as MPICH does it (shared memory between the
 * ranks of a node): the peer `benches/shm_compare.py` measures `ipc-bench --transports shm`
 * against.
 *
 *   mpiexec -n 2 mpi_pingpong SIZE MESSAGES ROUNDS
 *
 * Prints one JSON object (rank 0):
 *   - one-way: rank 0 sends MESSAGES messages of SIZE bytes, rank 1 receives each into the same
 *     buffer (as ipc-bench's shm consumer does), then answers with 1 byte; the clock runs from
 *     a barrier to that answer;
 *   - round trip: ROUNDS round trips of SIZE bytes, after one to warm up.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2 || argc != 4) {
        if (rank == 0) fprintf(stderr, "usage: mpiexec -n 2 %s SIZE MESSAGES ROUNDS\n", argv[0]);
        MPI_Finalize();
        return 2;
    }
    long bytes = atol(argv[1]), messages = atol(argv[2]), rounds = atol(argv[3]);
    char *buf = malloc(bytes > 0 ? bytes : 1);
    memset(buf, 0xA5, bytes > 0 ? bytes : 1);
    char ack = 0;

    /* One way. */
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    if (rank == 0) {
        for (long i = 0; i < messages; i++)
            MPI_Send(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
        MPI_Recv(&ack, 1, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
        for (long i = 0; i < messages; i++)
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(&ack, 1, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
    }
    double one_way = MPI_Wtime() - t0;

    /* Round trips. */
    MPI_Barrier(MPI_COMM_WORLD);
    double t1 = 0;
    for (long i = 0; i <= rounds; i++) {
        if (i == 1) t1 = MPI_Wtime();
        if (rank == 0) {
            MPI_Send(buf, (int)bytes, MPI_BYTE, 1, 2, MPI_COMM_WORLD);
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 1, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 0, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, (int)bytes, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
        }
    }
    double round_trip = MPI_Wtime() - t1;

    if (rank == 0)
        printf("{\"payload_bytes\": %ld, \"messages\": %ld, \"one_way_seconds\": %.9f, "
               "\"messages_per_second\": %.1f, \"bytes_per_second\": %.1f, "
               "\"round_trips\": %ld, \"round_trip_us\": %.4f}\n",
               bytes, messages, one_way, messages / one_way, (double)messages * bytes / one_way,
               rounds, rounds > 0 ? round_trip * 1e6 / rounds : 0.0);
    free(buf);
    MPI_Finalize();
    return 0;
}
