"""HTTP routers, one per resource: thin (parse, one service call, map the answer). Layer: api."""
