/* hello-server: answers every HTTP request on 127.0.0.1:$PORT (default 8080) with
   "$HELLO_GREETING, world!" and the contents of the file named by its argument. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *port = getenv("PORT") ? getenv("PORT") : "8080";
    const char *greeting = getenv("HELLO_GREETING") ? getenv("HELLO_GREETING") : "Hello";
    const char *path = argc > 1 ? argv[1] : "hello.txt";
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
    int server = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(server, (struct sockaddr *)&address, sizeof address) != 0 || listen(server, 16) != 0) {
        perror("hello-server");
        return 1;
    }
    printf("hello-server: listening on port %s\n", port);
    fflush(stdout);
    for (;;) {
        char request[4096], body[4096];
        int client = accept(server, NULL, NULL);
        if (client < 0)
            continue;
        if (read(client, request, sizeof request) < 0)
            perror("hello-server: read");
        FILE *file = fopen(path, "r");
        size_t size = file ? fread(body, 1, sizeof body, file) : 0;
        if (file)
            fclose(file);
        dprintf(client,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                "%s, world!\n%.*s",
                greeting, (int)size, body);
        close(client);
    }
}
