"""Input: the case and collector lists a dispatcher gives, read and checked.

`files` turns CSV/xlsx files into text cells (encodings, separators, decimal commas, Excel);
`inputs` turns those cells into `optimizer.model` records, every problem of a file at once.
"""
