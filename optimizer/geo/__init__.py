"""Places and roads: OSM extracts, coordinates, geocoding, the road network, travel matrices.

`osmfile` reads OSM XML/PBF extracts, `coords` converts coordinate systems, `geocode` finds
addresses (offline gazetteer of the extract, or a geopy provider), `network` builds the road
network and snaps points to the nearest point of its roads (`segments`: edges as lines),
`matrix` computes travel times and distances between them: the places spliced into the graph
(`splice`), answered by contraction hierarchies (`cch`) or scipy's Dijkstra.
"""
