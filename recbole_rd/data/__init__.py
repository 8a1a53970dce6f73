from recbole_rd.data.dataset import DatasetError, create_dataset, data_preparation

__all__ = ["DatasetError", "create_dataset", "data_preparation"]
