"""airspace: geometry and geodesy of a managed region, in a local metric frame.

Start with frames.LocalFrame, then volumes.Volume4D (the F3548 volume and its exact 1 cm intersection rule);
geofences and geozones (ED-269 / ED-318 / GeoJSON import), cells.CellGrid, index.SpaceTimeIndex and
routes.RouteGraph build on them, and region.load_region ties them to a region.yaml.
Imports nothing of ours. Degrees appear only in the from_*/to_* converters and the file loaders.
"""
