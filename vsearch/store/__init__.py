"""Store: the database (source of truth) of videos, clips and their embeddings."""
