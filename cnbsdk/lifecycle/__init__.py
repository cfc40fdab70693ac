"""The platform side of CNB: detect (order + plan), build environments, and (later) restore,
build, export and cache. Pure logic lives in small modules; the CLI only wires them.
"""
