// A tiny Express server: answers on $PORT (8080 by default).
const express = require("express");

const app = express();
const port = Number(process.env.PORT || 8080);

app.get("/", (_request, response) => {
  response.send(`Hello from Express on Node.js ${process.version}!\n`);
});

app.get("/health", (_request, response) => {
  response.json({ status: "ok", env: process.env.NODE_ENV || "" });
});

const server = app.listen(port, () => console.log(`listening on port ${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
