"""Operations on models and artifacts, one module per verb; typed results; they never print."""
