// The app's build step: src/ -> dist/ with a dev dependency, as a TypeScript build would.
const fs = require("fs");
const { compile } = require("tool");

fs.mkdirSync("dist", { recursive: true });
fs.writeFileSync("dist/server.js", compile(fs.readFileSync("src/server.js", "utf8")));
console.log("built dist/server.js");
