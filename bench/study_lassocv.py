#!/usr/bin/env python
"""The study's regression script as a process: the baseline of bench/regress_process.py.

The loop of the study's ``reg_lassoCV.py`` (ziul-bio/SWAT): read the metadata CSV and the pickled
``{ID: vector}`` embeddings, merge them with pandas, MinMax-scale all rows, and per outer fold of
``KFold(5, shuffle=True, random_state=42)`` fit ``LassoCV(max_iter=1000, tol=1e-2,
random_state=42)`` on pandas frames, score R², MAE, RMSE and Spearman on both parts and write one
CSV row per fold. Nothing of plmtransfer is imported.

    python bench/study_lassocv.py EMBEDDINGS.pkl METADATA.csv OUT.csv
"""

import pickle
import sys

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn import metrics
from sklearn.linear_model import LassoCV
from sklearn.model_selection import KFold
from sklearn.preprocessing import MinMaxScaler


def main(embeddings_path: str, metadata_path: str, out_path: str) -> None:
    """Cross-validate LassoCV as the study did and write the per-fold scores."""
    meta = pd.read_csv(metadata_path)
    with open(embeddings_path, "rb") as handle:
        embed = pickle.load(handle)
    embed_df = pd.DataFrame.from_dict(embed).T.reset_index().rename(columns={"index": "ID"})
    data = meta.merge(embed_df, how="inner", left_on="ID", right_on="ID")
    target = data["target"]
    features = pd.DataFrame(MinMaxScaler(feature_range=(0, 1)).fit_transform(data.iloc[:, meta.shape[1]:]))
    rows = []
    for fold, (train, test) in enumerate(KFold(5, shuffle=True, random_state=42).split(features), start=1):
        X_train, X_test = features.iloc[train], features.iloc[test]
        y_train, y_test = target.iloc[train], target.iloc[test]
        model = LassoCV(max_iter=1000, tol=1e-2, random_state=42, n_jobs=-1).fit(X_train, y_train)
        row = {"Fold": fold, "num_nonzero_coefs": int(np.sum(model.coef_ != 0)), "alpha": model.alpha_}
        for part, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
            prediction = pd.DataFrame(model.predict(X))
            row[f"R2_score_{part}"] = metrics.r2_score(y, prediction)
            row[f"MAE_score_{part}"] = metrics.mean_absolute_error(y, prediction)
            row[f"RMSE_score_{part}"] = np.sqrt(metrics.mean_squared_error(y, prediction))
            row[f"rho_score_{part}"] = spearmanr(y, prediction)[0]
        rows.append(row)
    pd.DataFrame(rows).to_csv(out_path, index=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
