const http = require("http");
let tool = "absent";
try {
  require.resolve("tool");
  tool = "present";
} catch (error) {}
http
  .createServer((_request, response) => response.end(`built app; dev tool ${tool}\n`))
  .listen(Number(process.env.PORT || 8080));
