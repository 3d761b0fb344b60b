# lme4 reference values for Lab 2 (chapters/15_lab2_minority.md).
#
#   Rscript tests/r/lab2_reference.R          (from the repository root)
#
# Reads data/hsb.csv, builds the columns the lab builds (the levels of
# hlm_course/data.py; mean_ses = school sample mean of ses; cses = ses -
# mean_ses; p_min = the school's proportion of minority students, as
# hc.cvar(hsb["minority"], hsb["school"])["minorityYes"]), fits every mixed
# model whose numbers the lab teaches with lme4 -- with lme4's default
# control AND with lmerControl(optimizer = "bobyqa"), because lme4's default
# (nloptwrap) stops at a false boundary on some of these models -- and writes
# tests/reference/lab2_lme4.json.  tests/against_r/test_lab2.py compares our engine
# with it.  Besides the fits it records:
#   * lme4's anova() tables of the forward stepwise random-effects build;
#   * the within-school OLS minority gap and Cook's distances (stats::lm);
#   * the marginal covariance V_j = Z_j T Z_j' + sigma^2 I of one school;
#   * multilevel R^2 (Snijders & Bosker 1994; Nakagawa & Schielzeth 2013 with
#     Johnson's 2014 random-slope extension) computed by hand from lme4's
#     estimates, with the formulas of hlm_course/r2.py;
#   * a pbkrtest parametric bootstrap p-value (informational: another random
#     number generator, so it agrees with ours only up to Monte Carlo error).
# Needs R with lme4, pbkrtest and jsonlite.  Takes about a minute.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

if (!file.exists("data/hsb.csv"))
  stop("run from the repository root: Rscript tests/r/lab2_reference.R")
out_file <- "tests/reference/lab2_lme4.json"

# ---------------------------------------------------------------- data ----
source("tests/r/common.R")
hsb <- read_hsb()  # factor levels as hlm_course/data.py, mean_ses, cses
hsb$p_min    <- ave(as.numeric(hsb$minority == "Yes"), hsb$school, FUN = mean)
# rescaled and shifted copies of ses for the section on scaling
hsb$ses_shift <- hsb$ses + 3
hsb$ses_x100  <- hsb$ses * 100
hsb$cses_d100 <- hsb$cses / 100
stopifnot(nrow(hsb) == 7185, !anyNA(hsb))

# ------------------------------------------------------------- models ----
FINAL_FE <- "mathach ~ (cses + minority) * (p_min + sector) + mean_ses"
specs <- list(
  ri        = "mathach ~ cses + minority + (1 | school)",
  rs_cses   = "mathach ~ cses + minority + (cses | school)",
  rs_both   = "mathach ~ cses + minority + (cses + minority | school)",
  ses_raw   = "mathach ~ ses + minority + (ses + minority | school)",
  ses_shift = "mathach ~ ses_shift + minority + (ses_shift + minority | school)",
  ses_x100  = "mathach ~ ses_x100 + minority + (ses_x100 + minority | school)",
  cses_d100 = "mathach ~ cses_d100 + minority + (cses_d100 + minority | school)",
  ctx       = "mathach ~ cses + minority + mean_ses + p_min + sector + (cses + minority | school)",
  big       = "mathach ~ (cses + minority) * (mean_ses + p_min + sector) + (cses + minority | school)",
  slim      = paste(FINAL_FE, "+ (cses + minority | school)"),
  slim_ri   = paste(FINAL_FE, "+ (1 | school)"),
  slim_cses = paste(FINAL_FE, "+ (cses | school)"),
  slim_min  = paste(FINAL_FE, "+ (minority | school)"),
  final     = paste(FINAL_FE, "+ female + (1 | school)"),
  final_q   = paste(FINAL_FE, "+ female + I(cses^2) + (1 | school)"),
  null      = "mathach ~ 1 + (1 | school)"
)
# which models to fit by ML too (for likelihood-ratio tests)
ml_too <- c("ri", "rs_cses", "rs_both", "slim_ri", "final", "final_q")

fit_logged <- function(formula, reml, optimizer) {
  log <- character(0)
  control <- if (optimizer == "default") lmerControl() else lmerControl(optimizer = optimizer)
  m <- withCallingHandlers(
    lmer(as.formula(formula), data = hsb, REML = reml, control = control),
    message = function(c) { log <<- c(log, trimws(conditionMessage(c))); invokeRestart("muffleMessage") },
    warning = function(c) { log <<- c(log, paste("warning:", conditionMessage(c))); invokeRestart("muffleWarning") }
  )
  list(model = m, log = log)
}

summarise <- function(m, formula, optimizer, log) {
  vc <- VarCorr(m)[[1]]
  V <- as.matrix(vcov(m))
  dimnames(V) <- NULL
  tau <- as.matrix(vc)
  dimnames(tau) <- NULL
  oi <- m@optinfo
  list(
    formula = formula, reml = isREML(m), optimizer = optimizer,
    fixef = as.list(fixef(m)),
    se = as.list(setNames(sqrt(diag(as.matrix(vcov(m)))), names(fixef(m)))),
    vcov = V,
    theta = unname(getME(m, "theta")),
    tau_names = colnames(vc), tau = tau,
    sigma = sigma(m),
    reml_criterion = if (isREML(m)) REMLcrit(m) else NULL,
    deviance = if (isREML(m)) NULL else deviance(m),
    loglik = as.numeric(logLik(m)), npar = attr(logLik(m), "df"),
    aic = AIC(m), bic = BIC(m),
    singular = isSingular(m),
    feval = oi$feval,
    messages = c(as.character(unlist(oi$conv$lme4$messages)), log)
  )
}

fits <- list()
out_models <- list()
for (name in names(specs)) {
  for (reml in c(TRUE, if (name %in% ml_too) FALSE)) {
    for (opt in c("default", "bobyqa")) {
      key <- paste0(name, if (reml) "_reml" else "_ml", if (opt == "bobyqa") "_bobyqa" else "")
      f <- fit_logged(specs[[name]], reml, opt)
      fits[[key]] <- f$model
      out_models[[key]] <- summarise(f$model, specs[[name]], opt, f$log)
      crit <- if (reml) REMLcrit(f$model) else deviance(f$model)
      cat(sprintf("%-24s %s %.6f%s\n", key, if (reml) "REML" else "dev ", crit,
                  if (isSingular(f$model)) "  (singular)" else ""))
    }
  }
}

# the lowest criterion of the two optimizers: the reference the tests use
best <- list()
for (name in names(specs)) for (reml in c("_reml", if (name %in% ml_too) "_ml")) {
  a <- paste0(name, reml); b <- paste0(a, "_bobyqa")
  ca <- if (reml == "_reml") REMLcrit(fits[[a]]) else deviance(fits[[a]])
  cb <- if (reml == "_reml") REMLcrit(fits[[b]]) else deviance(fits[[b]])
  best[[a]] <- list(default = ca, bobyqa = cb, best = if (cb < ca - 1e-6) "bobyqa" else "default",
                    default_minus_bobyqa = ca - cb)
}

# ---------------------------------------------------------- anova ----
pick <- function(a) if (best[[a]]$best == "bobyqa") fits[[paste0(a, "_bobyqa")]] else fits[[a]]
tab <- function(a) {
  a <- as.data.frame(a)
  list(npar = as.integer(a$npar), aic = a$AIC, bic = a$BIC, loglik = a$logLik,
       deviance = a[[intersect(c("deviance", "-2*log(L)"), names(a))[1]]],
       chisq = a$Chisq, df = as.integer(a$Df), p = a[["Pr(>Chisq)"]])
}
anovas <- list(
  stepwise_reml = c(tab(anova(pick("ri_reml"), pick("rs_cses_reml"), pick("rs_both_reml"), refit = FALSE)),
                    list(models = c("ri", "rs_cses", "rs_both"), refit = FALSE)),
  slim_re_reml = c(tab(anova(pick("slim_ri_reml"), pick("slim_min_reml"), refit = FALSE)),
                   list(models = c("slim_ri", "slim_min"), refit = FALSE)),
  female_ml = c(tab(suppressMessages(anova(pick("slim_ri_reml"), pick("final_reml")))),
                list(models = c("slim_ri", "final"), refit = TRUE)),
  quadratic_ml = c(tab(suppressMessages(anova(pick("final_reml"), pick("final_q_reml")))),
                   list(models = c("final", "final_q"), refit = TRUE))
)

# ------------------------------------------------ OLS (level 1 only) ----
ols_within <- lm(mathach ~ factor(school) + ses + minority, data = hsb)
ols_pooled <- lm(mathach ~ ses + minority, data = hsb)
cd <- cooks.distance(ols_within)
ols <- list(
  within_gap = unname(coef(ols_within)["minorityYes"]),
  within_gap_se = unname(sqrt(diag(vcov(ols_within)))["minorityYes"]),
  within_ses = unname(coef(ols_within)["ses"]),
  pooled_gap = unname(coef(ols_pooled)["minorityYes"]),
  cooks_max = max(cd),
  cooks_n_above_4_over_n = sum(cd > 4 / nrow(hsb)),
  cooks_top_rows = unname(order(cd, decreasing = TRUE)[1:5] - 1L),   # 0-based rows, as pandas
  hat_max = max(hatvalues(ols_within))
)

# ------------------------------------- marginal covariance of one school ----
m2 <- pick("rs_both_reml")
school_j <- 1224L
rows_j <- which(hsb$school == school_j)
Zj <- cbind(1, hsb$cses[rows_j], as.numeric(hsb$minority[rows_j] == "Yes"))
Tm <- as.matrix(VarCorr(m2)[[1]])
Vj <- Zj %*% Tm %*% t(Zj) + sigma(m2)^2 * diag(length(rows_j))
dimnames(Vj) <- NULL
marginal <- list(school = school_j, rows = rows_j - 1L, V = Vj,
                 marginal_fitted_head = unname(head(predict(m2, re.form = NA), 10)),
                 conditional_fitted_head = unname(head(fitted(m2), 10)))

# --------------------------------------------------------- R squared ----
r2_nakagawa <- function(m) {
  X <- getME(m, "X")
  var_f <- var(as.vector(X %*% fixef(m)))
  Tm <- as.matrix(VarCorr(m)[[1]])
  Zm <- model.matrix(as.formula(paste("~", deparse(findbars(formula(m))[[1]][[2]]))), hsb)
  var_r <- mean(rowSums((Zm %*% Tm) * Zm))
  var_e <- sigma(m)^2
  list(marginal = var_f / (var_f + var_r + var_e), conditional = (var_f + var_r) / (var_f + var_r + var_e),
       var_fixed = var_f, var_random = var_r, var_resid = var_e)
}
r2_sb <- function(m0, m1) {
  n <- 1 / mean(1 / as.vector(table(hsb$school)))   # harmonic mean of the school sizes
  t0 <- as.numeric(VarCorr(m0)[[1]]); t1 <- as.numeric(VarCorr(m1)[[1]])
  s0 <- sigma(m0)^2; s1 <- sigma(m1)^2
  list(level1 = 1 - (s1 + t1) / (s0 + t0), level2 = 1 - (s1 / n + t1) / (s0 / n + t0), n = n)
}
r2 <- list(
  nakagawa_final = r2_nakagawa(pick("final_reml")),
  nakagawa_rs_both = r2_nakagawa(pick("rs_both_reml")),
  snijders_bosker_final = r2_sb(pick("null_reml"), pick("final_reml")),
  snijders_bosker_ri = r2_sb(pick("null_reml"), pick("ri_reml"))
)

# ------------------------------------------ parametric bootstrap (info) ----
pb <- NULL
if (requireNamespace("pbkrtest", quietly = TRUE)) {
  set.seed(2024)
  pbm <- pbkrtest::PBmodcomp(fits[["rs_cses_ml"]], fits[["ri_ml"]], nsim = 500)
  pb <- list(lrt = pbm$test["LRT", "stat"], p_chisq = pbm$test["LRT", "p.value"],
             p_pb = pbm$test["PBtest", "p.value"], nsim = 500,
             note = "pbkrtest::PBmodcomp(rs_cses ML, ri ML, nsim = 500) after set.seed(2024); informational only")
}

meta <- list(
  R = R.version.string, lme4 = as.character(packageVersion("lme4")),
  date = format(Sys.Date()),
  data_sha256 = sub(" .*", "", system2("sha256sum", "data/hsb.csv", stdout = TRUE)[1]),
  notes = c("keys: <model>_<reml|ml>[_bobyqa]; without _bobyqa = lme4's default control (nloptwrap)",
            "best: for each model the optimizer with the lower criterion; the tests compare with that one",
            "p_min = ave(minority == 'Yes', school); mean_ses = ave(ses, school); cses = ses - mean_ses")
)

result <- list(meta = meta, best = best, models = out_models, anova = anovas, ols = ols,
               marginal = marginal, r2 = r2, pbkrtest = pb)
writeLines(toJSON(result, auto_unbox = TRUE, digits = I(17), null = "null", na = "null", pretty = TRUE,
                  matrix = "rowmajor"), out_file)
stopifnot(is.list(fromJSON(out_file)))
cat("wrote", out_file, "\n")
