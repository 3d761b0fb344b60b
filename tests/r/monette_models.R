# Reference values for chapters 03-04 (seed 001: the hierarchical model, and
# "from the simple to the complex").
#
#   Rscript tests/r/monette_models.R          (from the repository root)
#
# Reads OUR data file data/hs40.csv (the one hlm_course.load_hs40 reads) and
# writes tests/reference/monette_models.json with
#
# * nlme::lme fits of the one-way ANOVA with random effects (REML and ML) and
#   of the intercepts-and-slopes-as-outcomes model: estimates, AIC/BIC/logLik
#   (nlme's conventions), intervals() (nlme's Wald intervals on the log-SD
#   scale), the approximate covariance apVar (as nlme computes it, and again
#   with an accurate numerical Hessian), the fixed-effects df, and the
#   per-school ranef/coef of the one-way model;
# * lme4::lmer fits of every row of seed 001's "From the simple to the
#   complex" table: fixef, se, T, sigma, REML criterion, ML logLik/AIC after
#   refitting, and coef() of the random-slope models;
# * each school's least-squares line (the BLUEs) of mathach on ses.
#
# Needs R with nlme, lme4, numDeriv and jsonlite.  The Python tests never run R.

suppressPackageStartupMessages({
  library(nlme)
  library(lme4)
  library(jsonlite)
})

if (!file.exists("data/hs40.csv"))
  stop("run from the repository root: Rscript tests/r/monette_models.R")
out_file <- "tests/reference/monette_models.json"

hs <- read.csv("data/hs40.csv", stringsAsFactors = FALSE)
stopifnot(nrow(hs) == 1977, length(unique(hs$school)) == 40)
# seed 001's cvar() and dvar(): school mean and within-school deviation
hs$ses_mean <- ave(hs$ses, hs$school, FUN = mean)
hs$ses_dev  <- hs$ses - hs$ses_mean

mat <- function(m) { m <- as.matrix(m); dimnames(m) <- NULL; m }
named <- function(x) as.list(setNames(as.numeric(x), names(x)))

# ------------------------------------------------------------- nlme ----
nlme_summary <- function(fit) {
  iv <- intervals(fit, level = 0.95)
  re <- iv$reStruct[[1]]
  ap <- fit$apVar
  list(
    method = fit$method,
    formula = deparse(formula(fit)),
    random = deparse(formula(fit$modelStruct$reStruct)[[1]]),
    fixef = named(fixef(fit)),
    se = named(sqrt(diag(vcov(fit)))),
    fixed_df = named(fit$fixDF$X),
    sd_random = named(setNames(re[, "est."], rownames(re))),
    sigma = fit$sigma,
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit), bic = BIC(fit),
    intervals = list(
      fixed = list(names = rownames(iv$fixed), lower = unname(iv$fixed[, "lower"]),
                   est = unname(iv$fixed[, "est."]), upper = unname(iv$fixed[, "upper"])),
      random = list(names = rownames(re), lower = unname(re[, "lower"]),
                    est = unname(re[, "est."]), upper = unname(re[, "upper"])),
      sigma = as.list(iv$sigma)
    ),
    apvar = list(names = colnames(ap), pars = unname(attr(ap, "Pars")), matrix = mat(ap))
  )
}

oneway_reml <- lme(mathach ~ 1, random = ~ 1 | school, data = hs, method = "REML")
oneway_ml   <- lme(mathach ~ 1, random = ~ 1 | school, data = hs, method = "ML")
iso_nlme    <- lme(mathach ~ ses * sector, random = ~ 1 + ses | school, data = hs, method = "REML")

nlme_out <- list(oneway_reml = nlme_summary(oneway_reml),
                 oneway_ml = nlme_summary(oneway_ml),
                 iso_reml = nlme_summary(iso_nlme))
# The same fits with nlme's Hessian taken by numDeriv's Richardson
# extrapolation instead of fdHess (a quadratic fit with step eps^(1/3)): the
# approximate covariance apVar is then accurate to many digits, and shows
# how much of the difference between nlme versions is numerical noise.
with_numderiv_apvar <- function(expr) {
  orig <- nlme:::lmeApVar
  b <- deparse(body(orig))
  hit <- grep("fdHess(Pars, lmeApVar.fullLmeLogLik", b, fixed = TRUE)
  stopifnot(length(hit) == 1)
  b <- sub("fdHess(Pars, lmeApVar.fullLmeLogLik, lmeSt, conLin, ",
           "numDeriv::hessian(function(p) lmeApVar.fullLmeLogLik(p, lmeSt, conLin, dims, N, sett), Pars); if (FALSE) fdHess(Pars, lmeApVar.fullLmeLogLik, lmeSt, conLin, ",
           b, fixed = TRUE)
  patched <- orig
  body(patched) <- parse(text = b)[[1]]
  environment(patched) <- asNamespace("nlme")
  assignInNamespace("lmeApVar", patched, "nlme")
  on.exit(assignInNamespace("lmeApVar", orig, "nlme"))
  expr
}
for (nm in names(nlme_out)) {
  fit <- list(oneway_reml = oneway_reml, oneway_ml = oneway_ml, iso_reml = iso_nlme)[[nm]]
  refit <- with_numderiv_apvar(update(fit))
  s <- nlme_summary(refit)
  nlme_out[[nm]]$intervals_numderiv <- s$intervals
  nlme_out[[nm]]$apvar_numderiv <- s$apvar
}

nlme_out$oneway_reml$ranef <- list(school = as.integer(rownames(ranef(oneway_reml))),
                                   value = unname(ranef(oneway_reml)[, 1]))
nlme_out$oneway_reml$coef <- unname(coef(oneway_reml)[, 1])

# ------------------------------------------------------------- lme4 ----
# every row of seed 001's "From the simple to the complex" table
table_rows <- list(
  oneway         = "mathach ~ 1 + (1 | school)",
  means_outcomes = "mathach ~ 1 + sector + (1 | school)",
  ancova         = "mathach ~ 1 + ses + (1 | school)",
  random_coef    = "mathach ~ 1 + ses + (1 + ses | school)",
  iso            = "mathach ~ 1 + ses * sector + (1 + ses | school)",
  nonrandom_slopes = "mathach ~ 1 + ses * sector + (1 | school)",
  parallel_slopes  = "mathach ~ 1 + ses + sector + (1 + ses | school)",
  contextual_dev   = "mathach ~ 1 + ses_mean + ses_dev + (1 + ses_dev | school)",
  contextual_raw   = "mathach ~ 1 + ses_mean + ses + (1 + ses_dev | school)",
  contextual_iso   = "mathach ~ 1 + (ses_mean + ses_dev) * sector + (1 + ses_dev | school)"
)

lmer_summary <- function(formula) {
  log <- character(0)
  m <- withCallingHandlers(
    lmer(as.formula(formula), data = hs, REML = TRUE),
    warning = function(w) { log <<- c(log, conditionMessage(w)); invokeRestart("muffleWarning") })
  ml <- refitML(m)
  vc <- VarCorr(m)[[1]]
  cf <- coef(m)$school
  list(
    formula = formula,
    fixef = named(fixef(m)),
    se = named(sqrt(diag(as.matrix(vcov(m))))),
    tau_names = colnames(vc),
    tau = mat(vc),
    sigma = sigma(m),
    reml_criterion = REMLcrit(m),
    loglik_reml = as.numeric(logLik(m)),
    ml_loglik = as.numeric(logLik(ml)),
    ml_aic = AIC(ml),
    ml_fixef = named(fixef(ml)),
    singular = isSingular(m),
    theta = unname(getME(m, "theta")),
    warnings = I(log),
    coef = list(school = as.integer(rownames(cf)), columns = colnames(cf), values = mat(cf))
  )
}
lme4_out <- lapply(table_rows, lmer_summary)

# --------------------------------------------------------- BLUEs ----
ols <- lmList(mathach ~ ses | school, data = hs)
blue <- coef(ols)

out <- list(
  meta = list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
              numDeriv = as.character(packageVersion("numDeriv")),
              lme4 = as.character(packageVersion("lme4")),
              generated_by = "tests/r/monette_models.R"),
  nlme = nlme_out,
  lme4 = lme4_out,
  blue = list(school = as.integer(rownames(blue)), columns = colnames(blue), values = mat(blue))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
cat("wrote", out_file, "\n")
