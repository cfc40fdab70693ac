/* A tiny HTTP server for the `cnbsdk run` tests: answers every request with
 * "Hello, $GREETING!" on $PORT (8080 when unset), and says so when a signal stops it. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int signum) { stop_signal = signum; }

int main(void) {
    const char *port = getenv("PORT") ? getenv("PORT") : "8080";
    const char *greeting = getenv("GREETING") ? getenv("GREETING") : "nobody";
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal; /* no SA_RESTART: accept() returns EINTR */
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    int server = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(server, (struct sockaddr *)&address, sizeof address) != 0 || listen(server, 16) != 0) {
        perror("server: cannot listen");
        return 1;
    }
    printf("server: listening on port %s\n", port);
    fflush(stdout);

    char body[512], request[4096];
    snprintf(body, sizeof body, "Hello, %s!\n", greeting);
    while (!stop_signal) {
        int client = accept(server, NULL, NULL);
        if (client < 0) continue;
        (void)read(client, request, sizeof request);
        dprintf(client, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
                strlen(body), body);
        close(client);
    }
    printf("server: stopping on %s\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    fflush(stdout);
    return 0;
}
