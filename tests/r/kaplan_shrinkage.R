# Independent R cross-check of hlm_course/shrinkage.py (seed 002, ch. 3).
#
#   Rscript tests/r/kaplan_shrinkage.R        (from the repository root)
#
# Writes tests/reference/kaplan_shrinkage.json.  Everything here is computed
# from lme4 fits with plain dense per-school matrices (lm() per school,
# solve()), written afresh, not translated from the Python code:
#
#   exam_hlm   normexam ~ standLRT + (standLRT | school), REML
#     * per-school OLS (lm), V_j = sigma^2 (X_j'X_j)^-1
#     * beta*_j (eq. 3.13), V*_j by eq. 3.16 and by the seed's appendix code
#       (which has (I - Delta_j) where eq. 3.16 has (I - Lambda_j)), 95% limits
#     * Henderson's prediction-error variance of beta_j = gamma + u_j from the
#       inverse of the full mixed-model-equations matrix (a third, entirely
#       different route to eq. 3.16)
#     * reliability, HLM chi-square, CR0 robust SEs (clubSandwich)
#   exam_small48  the same model with school 48 cut to its first student
#     (X_j'X_j singular): lme4's coef and Henderson PEV for every school
#   hsb_null, hsb_rc, hsb_isa: reliability, chi-square, CR0 robust SEs;
#     for hsb_isa also eq. 3.16 V*_j with the level-2 design W_j.
# Needs lme4, jsonlite, clubSandwich.

suppressPackageStartupMessages({
  library(lme4); library(jsonlite); library(clubSandwich)
})
if (!file.exists("data/exam.csv")) stop("run from the repository root")

exam <- read.csv("data/exam.csv")
hsb <- read.csv("data/hsb.csv")
hsb$sector <- factor(hsb$sector, levels = c("Public", "Catholic"))
hsb$mean_ses <- ave(hsb$ses, hsb$school, FUN = mean)
hsb$cses <- hsb$ses - hsb$mean_ses

# Level-1 design X_j (random part) and response per school.
school_blocks <- function(m, data, grp = "school") {
  Z <- getME(m, "mmList")[[1]]            # n x q random-effects model matrix
  y <- getME(m, "y")
  g <- data[[grp]]
  lapply(split(seq_along(y), g), function(i) list(X = Z[i, , drop = FALSE], y = y[i]))
}

# W_j for each school: rows = random terms, columns = fixed effects, read
# off the fixed-effects matrix as X[, k] = Z[, q] * w_j, with w_j constant
# within every school (decided over all schools at once: a school with one
# student would make any column look "constant").
level2_design <- function(m, data, grp = "school") {
  X <- getME(m, "X"); Z <- getME(m, "mmList")[[1]]
  g <- data[[grp]]; schools <- sort(unique(g))
  W <- lapply(schools, function(s) matrix(0, ncol(Z), ncol(X), dimnames = list(colnames(Z), colnames(X))))
  for (k in seq_len(ncol(X))) for (q in seq_len(ncol(Z))) {
    nz <- Z[, q] != 0                        # rows where x_q = 0 say nothing about w_j
    if (any(X[!nz, k] != 0)) next
    r <- X[nz, k] / Z[nz, q]
    spread <- tapply(r, g[nz], function(v) diff(range(v)))
    if (all(spread < 1e-9)) {
      w <- tapply(r, g[nz], function(v) v[1])
      for (j in seq_along(schools)) W[[j]][q, k] <- w[as.character(schools[j])]
      break
    }
  }
  W
}

shrinkage_reference <- function(m, data, level = 0.95) {
  blocks <- school_blocks(m, data)
  W <- level2_design(m, data)
  T <- as.matrix(VarCorr(m)[[1]]); attr(T, "stddev") <- NULL; attr(T, "correlation") <- NULL
  s2 <- sigma(m)^2; q <- nrow(T); I <- diag(q); z <- qnorm(0.5 + level / 2)
  ols <- lapply(blocks, function(b) {
    XtX <- crossprod(b$X)
    list(bhat = solve(XtX, crossprod(b$X, b$y)), V = s2 * solve(XtX), n = nrow(b$X))
  })
  Dinv <- lapply(ols, function(o) solve(T + o$V))
  info <- Reduce(`+`, Map(function(Wj, Di) t(Wj) %*% Di %*% Wj, W, Dinv))
  Vg <- solve(info)
  g <- Vg %*% Reduce(`+`, Map(function(Wj, Di, o) t(Wj) %*% Di %*% o$bhat, W, Dinv, ols))
  out <- Map(function(Wj, Di, o) {
    L <- T %*% Di
    bstar <- L %*% o$bhat + (I - L) %*% Wj %*% g
    post <- solve(solve(o$V) + solve(T))
    v316 <- post + (I - L) %*% Wj %*% Vg %*% t(Wj) %*% t(I - L)
    D <- T + o$V                                    # the appendix variant needs W_j = I
    vapp <- if (ncol(Wj) == q) post + (I - D) %*% Vg %*% t(I - D) else post * NA
    list(n = o$n, bhat = as.vector(o$bhat), bstar = as.vector(bstar),
         se316 = sqrt(diag(v316)), seapp = sqrt(diag(vapp)),
         lower316 = as.vector(bstar) - z * sqrt(diag(v316)),
         upper316 = as.vector(bstar) + z * sqrt(diag(v316)),
         lowerapp = as.vector(bstar) - z * sqrt(diag(vapp)),
         upperapp = as.vector(bstar) + z * sqrt(diag(vapp)),
         reliability = diag(T) / (diag(T) + diag(o$V)))
  }, W, Dinv, ols)
  list(terms = colnames(T), gamma = as.vector(g), vcov_gamma = unname(Vg), schools = names(blocks),
       per_school = unname(out))
}

# Henderson: Var([gamma_hat; u_hat - u]) = sigma^2 C^-1 with C the MME matrix.
henderson_pev <- function(m, data) {
  X <- as.matrix(getME(m, "X")); Z <- as.matrix(getME(m, "Z"))
  T <- as.matrix(VarCorr(m)[[1]]); attr(T, "stddev") <- NULL; attr(T, "correlation") <- NULL
  s2 <- sigma(m)^2; J <- nlevels(getME(m, "flist")[[1]]); q <- nrow(T); p <- ncol(X)
  G <- kronecker(diag(J), T)                        # lme4 orders Z by school, then term
  C <- rbind(cbind(crossprod(X), crossprod(X, Z)),
             cbind(crossprod(Z, X), crossprod(Z) + s2 * solve(G)))
  Cinv <- s2 * solve(C)
  W <- level2_design(m, data)
  lapply(seq_len(J), function(j) {
    idx <- c(seq_len(p), p + (j - 1) * q + seq_len(q))
    K <- cbind(W[[j]], diag(q))                     # beta_j = W_j gamma + u_j
    sqrt(diag(K %*% Cinv[idx, idx] %*% t(K)))
  })
}

hlm_stats <- function(m, data) {
  blocks <- school_blocks(m, data)
  W <- level2_design(m, data)
  T <- as.matrix(VarCorr(m)[[1]]); s2 <- sigma(m)^2
  g <- fixef(m)
  rel <- t(sapply(blocks, function(b) diag(T) / (diag(T) + diag(s2 * solve(crossprod(b$X))))))
  if (nrow(T) == 1) rel <- t(rel)
  chisq <- Reduce(`+`, Map(function(b, Wj) {
    XtX <- crossprod(b$X)
    (as.vector(solve(XtX, crossprod(b$X, b$y))) - as.vector(Wj %*% g))^2 / diag(s2 * solve(XtX))
  }, blocks, W))
  npred <- sapply(seq_len(nrow(T)), function(k) sum(W[[1]][k, ] != 0 | Reduce(`|`, lapply(W, function(w) w[k, ] != 0))))
  rob <- sqrt(diag(as.matrix(vcovCR(m, type = "CR0"))))
  list(terms = colnames(T), reliability = unname(colMeans(rel)), chisq = unname(chisq),
       df = length(blocks) - npred, robust_se = unname(rob), fixef_names = names(g))
}

exam_hlm <- lmer(normexam ~ standLRT + (standLRT | school), data = exam)
small <- exam[!(exam$school == 48 & duplicated(exam$school)), ]
exam_small <- lmer(normexam ~ standLRT + (standLRT | school), data = small)
hsb_null <- lmer(mathach ~ 1 + (1 | school), data = hsb)
hsb_rc <- lmer(mathach ~ cses + (cses | school), data = hsb)
hsb_isa <- lmer(mathach ~ cses * mean_ses + cses * sector + (cses | school), data = hsb)

cf_small <- coef(exam_small)$school
out <- list(
  meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
              clubSandwich = as.character(packageVersion("clubSandwich")), date = as.character(Sys.Date()),
              note = "see tests/r/kaplan_shrinkage.R"),
  exam_hlm = c(shrinkage_reference(exam_hlm, exam),
               list(henderson_se = unname(henderson_pev(exam_hlm, exam)),
                    coef = unname(as.matrix(coef(exam_hlm)$school)), stats = hlm_stats(exam_hlm, exam))),
  exam_small48 = list(nobs = nrow(small), theta = unname(getME(exam_small, "theta")),
                      coef = unname(as.matrix(cf_small)), schools = rownames(cf_small),
                      henderson_se = unname(henderson_pev(exam_small, small))),
  hsb_null = list(stats = hlm_stats(hsb_null, hsb)),
  hsb_rc = list(stats = hlm_stats(hsb_rc, hsb)),
  hsb_isa = c(list(stats = hlm_stats(hsb_isa, hsb)),
              list(henderson_se = unname(henderson_pev(hsb_isa, hsb))),
              shrinkage_reference(hsb_isa, hsb)[c("gamma", "vcov_gamma")])
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/kaplan_shrinkage.json")
cat("wrote tests/reference/kaplan_shrinkage.json\n")
