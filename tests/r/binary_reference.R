# lme4 reference values for chapter 18, "Binary outcomes" (chapters/18_binary_outcomes.md).
#
#   Rscript tests/r/binary_reference.R          (from the repository root)
#
# Every glmer fit the chapter makes, fitted to OUR data/contraception.csv (mlmRev's Contraception, the
# Bangladesh Fertility Survey 1988) with lme4's default glmerControl():
#   ri      use ~ age + I(age^2) + urban + livch + (1 | district)          Laplace (nAGQ = 1)
#   agq10   the same, adaptive Gauss-Hermite quadrature with nAGQ = 10
#   agq25   the same, nAGQ = 25
#   slope   use ~ age + I(age^2) + urban + livch + (urban | district)      Laplace
#   null    use ~ 1 + (1 | district)                                       Laplace (the unconditional latent ICC)
# Writes tests/reference/binary_lme4.json.  The Python tests (tests/against_r/test_binary.py) never run R.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

if (!file.exists("data/contraception.csv"))
  stop("run from the repository root: Rscript tests/r/binary_reference.R")
out_file <- "tests/reference/binary_lme4.json"

contra <- read.csv("data/contraception.csv", colClasses = c(woman = "integer", district = "character",
                                                            use = "character", livch = "character",
                                                            age = "numeric", urban = "character"))
contra$district <- factor(contra$district, levels = unique(contra$district))
contra$use <- factor(contra$use, levels = c("N", "Y"))
contra$livch <- factor(contra$livch, levels = c("0", "1", "2", "3+"))
contra$urban <- factor(contra$urban, levels = c("N", "Y"))
stopifnot(nrow(contra) == 1934, nlevels(contra$district) == 60)
# the same data as mlmRev's own copy
if (requireNamespace("mlmRev", quietly = TRUE)) {
  m <- mlmRev::Contraception
  stopifnot(all(m$age == contra$age), all(as.character(m$use) == as.character(contra$use)),
            all(as.character(m$district) == as.character(contra$district)),
            all(as.character(m$livch) == as.character(contra$livch)),
            all(as.character(m$urban) == as.character(contra$urban)))
}

describe <- function(fit, call) {
  vc <- as.data.frame(VarCorr(fit))
  conv <- fit@optinfo$conv$lme4$messages
  list(
    call = call,
    nAGQ = fit@devcomp$dims[["nAGQ"]],
    nobs = nobs(fit),
    minus2loglik = -2 * as.numeric(logLik(fit)),
    aic = AIC(fit), bic = BIC(fit),
    df = attr(logLik(fit), "df"),
    fixef = as.list(fixef(fit)),
    se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
    theta = unname(getME(fit, "theta")),
    varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov, sdcor = vc$sdcor),
    convergence_messages = I(if (is.null(conv)) character(0) else as.character(conv))
  )
}

fits <- list()
models <- list()
add <- function(name, expr) {
  call <- paste(deparse(substitute(expr), width.cutoff = 500L), collapse = " ")
  fit <- suppressWarnings(eval(substitute(expr)))
  fits[[name]] <<- describe(fit, call)
  models[[name]] <<- fit
  cat(sprintf("%-8s -2logLik = %.6f\n", name, fits[[name]]$minus2loglik))
  invisible(fit)
}

add("ri", glmer(use ~ age + I(age^2) + urban + livch + (1 | district), data = contra, family = binomial))
add("agq10", glmer(use ~ age + I(age^2) + urban + livch + (1 | district), data = contra, family = binomial,
                   nAGQ = 10))
add("agq25", glmer(use ~ age + I(age^2) + urban + livch + (1 | district), data = contra, family = binomial,
                   nAGQ = 25))
add("slope", glmer(use ~ age + I(age^2) + urban + livch + (urban | district), data = contra,
                   family = binomial))
add("null", glmer(use ~ 1 + (1 | district), data = contra, family = binomial))

# the likelihood-ratio test of the random urban slope, as the chapter's anova()
a <- anova(models$ri, models$slope)
lrt <- list(chisq = a$Chisq[2], df = a$Df[2], p = a[["Pr(>Chisq)"]][2])

# predictions for new data: population level (re.form = NA) and for district 1
newdata <- data.frame(age = c(-10, 0, 10, 0), urban = factor(c("N", "N", "N", "Y"), levels = c("N", "Y")),
                      livch = factor(c("0", "2", "3+", "2"), levels = c("0", "1", "2", "3+")),
                      district = factor(c("1", "1", "1", "1"), levels = levels(contra$district)))
pred <- list(newdata = newdata,
             population = unname(predict(models$ri, newdata, type = "response", re.form = NA)),
             district1 = unname(predict(models$ri, newdata, type = "response")))

out <- list(
  meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
              Matrix = as.character(packageVersion("Matrix")), date = as.character(Sys.Date()),
              data = "data/contraception.csv"),
  fits = fits, lrt_slope = lrt, predict = pred
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), out_file)
cat("wrote", out_file, "\n")
