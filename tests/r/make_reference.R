# lme4 reference values for the course's mixed-model engine.
#
#   Rscript tests/r/make_reference.R          (from the repository root)
#
# Reads OUR data files (data/*.csv, the ones the Python loaders read), sets
# the factor levels and derived columns exactly as hlm_course/data.py does,
# fits the models below with lme4 (default control unless the name says
# otherwise) and writes tests/reference/lme4_reference.json.  See
# tests/r/README.md.  Needs R with lme4 and jsonlite (Debian: r-cran-lme4,
# r-cran-jsonlite); nlme only for its version number.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

if (!file.exists("data/hsb.csv"))
  stop("run from the repository root: Rscript tests/r/make_reference.R")
out_file <- "tests/reference/lme4_reference.json"
n_timing <- as.integer(Sys.getenv("LME4_REFERENCE_TIMING_REPS", "20"))

# ---------------------------------------------------------------- data ----
source("tests/r/common.R")
hsb <- read_hsb()  # factor levels as hlm_course/data.py, mean_ses, cses

hs40 <- read.csv("data/hs40.csv", stringsAsFactors = FALSE)
hs40$Sex      <- factor(hs40$Sex, levels = c("Female", "Male"))
hs40$Minority <- factor(hs40$Minority, levels = c("No", "Yes"))
hs40$Sector   <- factor(hs40$Sector, levels = c("Catholic", "Public"))

exam <- read.csv("data/exam.csv", stringsAsFactors = FALSE)
exam$schgend <- factor(exam$schgend, levels = c("mixed", "boys", "girls"))
exam$vr      <- factor(exam$vr, levels = c("bottom 25%", "mid 50%", "top 25%"))
exam$intake  <- factor(exam$intake, levels = c("bottom 25%", "mid 50%", "top 25%"))
exam$sex     <- factor(exam$sex, levels = c("F", "M"))
exam$type    <- factor(exam$type, levels = c("Mxd", "Sngl"))

stopifnot(nrow(hsb) == 7185, nrow(hs40) == 1977, nrow(exam) == 4059,
          !anyNA(hsb), !anyNA(hs40), !anyNA(exam))
datasets <- list(hsb = hsb, hs40 = hs40, exam = exam)

# ------------------------------------------------------------- models ----
spec <- function(formula, data, reml, control = NULL)
  list(formula = formula, data = data, reml = reml, control = control)
ctrl_bobyqa <- quote(lmerControl(optimizer = "bobyqa"))
ctrl_nm     <- quote(lmerControl(optimizer = "Nelder_Mead"))

specs <- list(
  hsb_rc_reml = spec("mathach ~ cses + (cses | school)", "hsb", TRUE),
  hsb_rc_ml   = spec("mathach ~ cses + (cses | school)", "hsb", FALSE),
  hsb_minority_reml = spec("mathach ~ cses + minority + (cses + minority | school)", "hsb", TRUE),
  hsb_minority_reml_bobyqa = spec("mathach ~ cses + minority + (cses + minority | school)", "hsb", TRUE, ctrl_bobyqa),
  hsb_minority_reml_nm = spec("mathach ~ cses + minority + (cses + minority | school)", "hsb", TRUE, ctrl_nm),
  hsb_isa_reml = spec("mathach ~ cses*mean_ses + cses*sector + (cses | school)", "hsb", TRUE),
  hsb_isa_ml   = spec("mathach ~ cses*mean_ses + cses*sector + (cses | school)", "hsb", FALSE),
  hsb_int_reml = spec("mathach ~ cses + (1 | school)", "hsb", TRUE),
  hsb_int_ml   = spec("mathach ~ cses + (1 | school)", "hsb", FALSE),
  hsb_int_minority_reml = spec("mathach ~ cses + minority + (1 | school)", "hsb", TRUE),
  hsb_int_minority_ml   = spec("mathach ~ cses + minority + (1 | school)", "hsb", FALSE),
  hsb_null_reml = spec("mathach ~ 1 + (1 | school)", "hsb", TRUE),
  hsb_null_ml   = spec("mathach ~ 1 + (1 | school)", "hsb", FALSE),
  exam_vi_reml = spec("normexam ~ standLRT + (1 | school)", "exam", TRUE),
  exam_vi_ml   = spec("normexam ~ standLRT + (1 | school)", "exam", FALSE),
  exam_vs_reml = spec("normexam ~ standLRT + (standLRT - 1 | school)", "exam", TRUE),
  exam_vs_ml   = spec("normexam ~ standLRT + (standLRT - 1 | school)", "exam", FALSE),
  exam_hlm_reml = spec("normexam ~ standLRT + (standLRT | school)", "exam", TRUE),
  exam_hlm_ml   = spec("normexam ~ standLRT + (standLRT | school)", "exam", FALSE),
  hs40_null_reml = spec("mathach ~ 1 + (1 | school)", "hs40", TRUE),
  hs40_rc_reml   = spec("mathach ~ ses * Sector + (1 + ses | school)", "hs40", TRUE),
  # lme4 1.1-31 default stops with a convergence warning (max|grad| 0.0027) on this model; bobyqa converges
  hs40_rc_reml_bobyqa = spec("mathach ~ ses * Sector + (1 + ses | school)", "hs40", TRUE, ctrl_bobyqa)
)

fit_one <- function(s) {
  control <- if (is.null(s$control)) lmerControl() else eval(s$control)
  lmer(as.formula(s$formula), data = datasets[[s$data]], REML = s$reml, control = control)
}

# Fit, keeping every message and warning lme4 gives on the way.
fit_logged <- function(s) {
  log <- character(0)
  m <- withCallingHandlers(
    fit_one(s),
    message = function(c) { log <<- c(log, trimws(conditionMessage(c))); invokeRestart("muffleMessage") },
    warning = function(c) { log <<- c(log, paste("warning:", conditionMessage(c))); invokeRestart("muffleWarning") }
  )
  list(model = m, log = log)
}

# ---------------------------------------------------------- summaries ----
as_arr <- function(x) structure(as.list(x), class = "json_array")   # force a JSON array
named <- function(x) as.list(setNames(as.numeric(x), names(x)))
rows <- function(m) { m <- as.matrix(m); dimnames(m) <- NULL; m }

summarise <- function(name, s, m, log) {
  reml <- isREML(m)
  vc <- VarCorr(m)
  stopifnot(length(vc) == 1)                       # one grouping factor: school
  tau <- vc[[1]]
  tau_names <- colnames(tau)
  sds <- attr(tau, "stddev")
  corr <- attr(tau, "correlation")
  sig <- sigma(m)
  V <- as.matrix(vcov(m))
  re <- ranef(m, condVar = TRUE)[[1]]
  pv <- attr(re, "postVar")                          # q x q x J
  cond_var <- lapply(seq_len(dim(pv)[3]), function(j) rows(pv[, , j, drop = TRUE]))
  if (length(tau_names) == 1) cond_var <- as_arr(vapply(seq_len(dim(pv)[3]), function(j) pv[1, 1, j], 0))
  oi <- m@optinfo
  res <- list(
    data = s$data, formula = s$formula, reml = reml,
    control = if (is.null(s$control)) "default" else deparse(s$control),
    optimizer = oi$optimizer,
    fixef = named(fixef(m)),
    se = named(setNames(sqrt(diag(V)), names(fixef(m)))),
    vcov_names = as_arr(names(fixef(m))),
    vcov = rows(V),
    theta = as_arr(getME(m, "theta")),
    theta_names = as_arr(names(getME(m, "theta"))),
    sigma = sig,
    tau = list(names = as_arr(tau_names), matrix = rows(tau)),
    varcorr = list(
      var = named(c(setNames(diag(as.matrix(tau)), tau_names), Residual = sig^2)),
      sd = named(c(setNames(sds, tau_names), Residual = sig)),
      corr = rows(corr)
    ),
    reml_criterion = if (reml) REMLcrit(m) else NULL,
    deviance = if (reml) NULL else deviance(m),
    # ML deviance evaluated at the REML estimates (old lme4's "deviance"
    # column, as printed in seed 002) and after refitting by ML:
    ml_deviance_at_reml = if (reml) deviance(m, REML = FALSE) else NULL,
    ml_deviance_refit = if (reml) deviance(refitML(m)) else NULL,
    loglik = as.numeric(logLik(m)),
    df = attr(logLik(m), "df"),
    aic = AIC(m), bic = BIC(m),
    nobs = nobs(m), ngroups = as.integer(ngrps(m)[[1]]),
    singular = isSingular(m),
    optimizer_messages = list(
      optimizer = oi$optimizer,
      conv_opt = oi$conv$opt,
      message = if (is.null(oi$message)) NULL else oi$message,
      feval = oi$feval,
      lme4_messages = as_arr(as.character(unlist(oi$conv$lme4$messages))),
      warnings = as_arr(as.character(unlist(oi$warnings))),
      fit_log = as_arr(log)
    ),
    ranef = list(group = as_arr(as.integer(rownames(re))), columns = as_arr(colnames(re)),
                 values = rows(re)),
    cond_var = cond_var,
    scaled_resid_quantiles = as_arr(unname(quantile(residuals(m, type = "pearson", scaled = TRUE))))
  )
  res[!vapply(res, is.null, TRUE)]
}

# ---------------------------------------------------------------- JSON ----
# A small writer: numbers as the shortest of %.15g/%.16g/%.17g that reads
# back exactly (jsonlite stops at 15 significant digits), matrices as arrays
# of rows, length-1 vectors as scalars unless wrapped by as_arr().
num <- function(v) {
  if (is.na(v) || !is.finite(v)) return("null")
  if (is.integer(v)) return(as.character(v))
  for (d in 15:17) { s <- sprintf(paste0("%.", d, "g"), v); if (as.numeric(s) == v) break }
  s
}
atom <- function(v) {
  if (is.logical(v)) return(if (is.na(v)) "null" else if (v) "true" else "false")
  if (is.numeric(v)) return(num(v))
  as.character(toJSON(unbox(as.character(v))))
}
to_json <- function(x, ind = "") {
  nxt <- paste0(ind, "  ")
  if (is.null(x)) return("null")
  if (inherits(x, "json_array")) {
    x <- unclass(x)
    if (length(x) == 0) return("[]")
    return(paste0("[", paste(vapply(x, atom, ""), collapse = ", "), "]"))
  }
  if (is.matrix(x)) {
    r <- vapply(seq_len(nrow(x)), function(i) paste0("[", paste(vapply(x[i, ], atom, ""), collapse = ", "), "]"), "")
    return(paste0("[", paste(r, collapse = ", "), "]"))
  }
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    parts <- vapply(seq_along(x), function(i) to_json(x[[i]], nxt), "")
    if (is.null(names(x)))
      return(paste0("[\n", nxt, paste(parts, collapse = paste0(",\n", nxt)), "\n", ind, "]"))
    keys <- vapply(names(x), atom, "")
    return(paste0("{\n", nxt, paste(paste0(keys, ": ", parts), collapse = paste0(",\n", nxt)), "\n", ind, "}"))
  }
  if (length(x) == 1 && is.null(names(x))) return(atom(x))
  if (!is.null(names(x))) return(to_json(as.list(x), ind))
  to_json(as_arr(x), ind)
}

# ---------------------------------------------------------------- run ----
models <- list()
summaries <- list()
for (name in names(specs)) {
  cat(sprintf("fitting %-26s", name))
  f <- fit_logged(specs[[name]])
  models[[name]] <- f$model
  summaries[[name]] <- summarise(name, specs[[name]], f$model, f$log)
  crit <- if (isREML(f$model)) REMLcrit(f$model) else deviance(f$model)
  cat(sprintf(" %s %.6f%s\n", if (isREML(f$model)) "REML" else "dev ", crit,
              if (isSingular(f$model)) "  (singular)" else ""))
}

anova_entry <- function(a, model_names) {
  a <- as.data.frame(a)
  dev_col <- intersect(c("deviance", "-2*log(L)"), names(a))[1]
  list(models = as_arr(model_names), formulas = as_arr(vapply(model_names, function(n) specs[[n]]$formula, "")),
       npar = as_arr(as.integer(a$npar)), aic = as_arr(a$AIC), bic = as_arr(a$BIC),
       loglik = as_arr(a$logLik), deviance = as_arr(a[[dev_col]]),
       chisq = a$Chisq[2], df = as.integer(a$Df[2]), p = a[["Pr(>Chisq)"]][2])
}
hsb_int_reml <- models$hsb_int_reml
hsb_int_minority_reml <- models$hsb_int_minority_reml
hsb_rc_reml <- models$hsb_rc_reml
anovas <- list(
  fixed_minority = c(anova_entry(suppressMessages(anova(hsb_int_reml, hsb_int_minority_reml)),
                                 c("hsb_int_reml", "hsb_int_minority_reml")),
                     list(refit = TRUE, note = "refits both models with ML (lme4's default for anova)")),
  random_cses = c(anova_entry(anova(hsb_int_reml, hsb_rc_reml, refit = FALSE),
                              c("hsb_int_reml", "hsb_rc_reml")),
                  list(refit = FALSE, note = "compares the REML fits (refit = FALSE)"))
)

timings <- list()
if (n_timing > 0) {
  for (name in c("hsb_rc_reml", "hsb_isa_reml", "exam_hlm_reml", "hsb_minority_reml")) {
    s <- specs[[name]]
    t <- system.time(for (i in seq_len(n_timing)) suppressMessages(fit_one(s))) / n_timing
    timings[[name]] <- round(unname(t[["elapsed"]]), 5)
    cat(sprintf("timing %-22s %.4f s per fit\n", name, timings[[name]]))
  }
  timings$note <- sprintf("elapsed seconds per lmer() fit, mean of %d fits, system.time() in R %s on this machine (informational)",
                          n_timing, getRversion())
}

meta <- list(
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  Matrix = as.character(packageVersion("Matrix")),
  nlme = as.character(packageVersion("nlme")),
  date = format(Sys.Date()),
  data_sha256 = as.list(setNames(vapply(c("data/hsb.csv", "data/hs40.csv", "data/exam.csv"), function(f) {
    out <- tryCatch(system2("sha256sum", f, stdout = TRUE), error = function(e) NA_character_)
    sub(" .*", "", out[1])
  }, ""), c("hsb.csv", "hs40.csv", "exam.csv"))),
  notes = as_arr(c(
    "hsb: mean_ses = school sample mean of ses (ave(ses, school)), cses = ses - mean_ses, as hlm_course.data.load_hsb",
    "reml_criterion = REMLcrit(m) = -2 * REML log-likelihood; deviance = deviance(m) for ML fits",
    "ml_deviance_at_reml = deviance(m, REML = FALSE): the ML deviance at the REML estimates (old lme4's 'deviance')",
    "ml_deviance_refit = deviance(refitML(m))",
    "vcov rows/columns follow vcov_names; tau is VarCorr(m)$school; cond_var is attr(ranef(m, condVar = TRUE)$school, 'postVar') per school (a number for one random effect, a q x q matrix otherwise)",
    "scaled_resid_quantiles = quantile(residuals(m, 'pearson', scaled = TRUE)), as summary() prints"
  ))
)

# The default optimizer's answer for hsb_minority_reml is not the lowest
# criterion lme4 can reach: record the three side by side.
minority <- c("hsb_minority_reml", "hsb_minority_reml_bobyqa", "hsb_minority_reml_nm")
crit <- vapply(minority, function(n) REMLcrit(models[[n]]), 0)
meta$hsb_minority_optimum <- list(
  reml_criterion = as.list(crit),
  singular = as.list(vapply(minority, function(n) isSingular(models[[n]]), TRUE)),
  best = names(which.min(crit)),
  note = "the lowest REML criterion is the optimum; lme4's default (nloptwrap) may stop at a boundary point"
)

result <- list(meta = meta, models = summaries, anova = anovas, timings_seconds = timings)
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(to_json(result), out_file)
stopifnot(is.list(fromJSON(out_file)))   # valid JSON
cat("wrote", out_file, "\n")
