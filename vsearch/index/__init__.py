"""Index: the FAISS vector index over clip embeddings, derived from the store."""
