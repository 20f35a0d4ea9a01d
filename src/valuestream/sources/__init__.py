"""Sources of item histories, one module each; they hand Arrow tables to the workspace."""
