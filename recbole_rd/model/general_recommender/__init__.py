from recbole_rd.model.general_recommender.pop import Pop

__all__ = ["Pop"]
