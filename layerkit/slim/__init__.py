"""Slimming a layer, one concern per module:

- `layerkit.slim.plan`: which files each rule would remove and why (reads, never writes; what
  ``inspect`` shows);
- `layerkit.slim.apply`: removing the planned files from a directory;
- `layerkit.slim.strip`: stripping shared objects with a tool on PATH;
- `layerkit.slim.compile`: writing bytecode within the budget;
- `layerkit.slim.tree`: all of them, in order, on a freshly installed site-packages directory.

Nothing is imported here, so ``inspect`` loading the plan loads none of the steps that write.
"""
