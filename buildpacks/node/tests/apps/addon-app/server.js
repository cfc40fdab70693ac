// Answers with what the native addon (compiled by node-gyp at build time) returns.
const http = require("http");
const addon = require("addon");

http
  .createServer((_request, response) => response.end(`${addon.hello()}\n`))
  .listen(Number(process.env.PORT || 8080));
