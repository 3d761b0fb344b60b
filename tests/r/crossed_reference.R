# lme4 reference values for chapter 19, "Crossed memberships" (chapters/19_crossed_memberships.md).
#
#   Rscript tests/r/crossed_reference.R          (from the repository root)
#
# Every model the chapter fits, to OUR data/scotssec.csv (mlmRev's ScotsSec, Paterson 1991), REML with
# lme4's default control:
#   null           attain ~ 1 + (1 | primary) + (1 | second)           crossed, no predictors
#   null_primary   attain ~ 1 + (1 | primary)                          the secondary schools ignored
#   null_second    attain ~ 1 + (1 | second)                           the primary schools ignored
#   null_nested    attain ~ 1 + (1 | second/primary)                   primaries wrongly nested in secondaries
#   crossed        attain ~ verbal + sex + social + (1 | primary) + (1 | second)
#   primary, second, nested: the same fixed part with the random parts above
#   ctx_crossed    attain ~ verbal + sex + social + primary_verbal + (1 | primary) + (1 | second)
#   ctx_second     attain ~ verbal + sex + social + primary_verbal + (1 | second)
# with primary_verbal the mean verbal score of the pupil's primary school.  And the likelihood-ratio tests
# of the chapter, anova(..., refit = FALSE) (the fixed parts are equal, so REML criteria are compared).
# Writes tests/reference/crossed_lme4.json.  The Python tests (tests/against_r/test_crossed.py) never run R.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
  library(mlmRev)
})

if (!file.exists("data/scotssec.csv"))
  stop("run from the repository root: Rscript tests/r/crossed_reference.R")
out_file <- "tests/reference/crossed_lme4.json"

sco <- read.csv("data/scotssec.csv")
# the file is mlmRev's ScotsSec, value for value
data("ScotsSec", package = "mlmRev")
stopifnot(nrow(sco) == nrow(ScotsSec), all(sco$verbal == ScotsSec$verbal), all(sco$attain == ScotsSec$attain),
          all(sco$social == ScotsSec$social), identical(sco$sex, as.character(ScotsSec$sex)),
          identical(as.character(sco$primary), as.character(ScotsSec$primary)),
          identical(as.character(sco$second), as.character(ScotsSec$second)))
sco$sex <- factor(sco$sex, levels = c("M", "F"))
sco$primary <- factor(sco$primary)
sco$second <- factor(sco$second)
sco$primary_verbal <- ave(sco$verbal, sco$primary)
stopifnot(nrow(sco) == 3435, nlevels(sco$primary) == 148, nlevels(sco$second) == 19)

named <- function(x) as.list(setNames(as.numeric(x), names(x)))
`%||%` <- function(a, b) if (is.null(a)) b else a

formulas <- c(
  null = "attain ~ 1 + (1 | primary) + (1 | second)",
  null_primary = "attain ~ 1 + (1 | primary)",
  null_second = "attain ~ 1 + (1 | second)",
  null_nested = "attain ~ 1 + (1 | second/primary)",
  crossed = "attain ~ verbal + sex + social + (1 | primary) + (1 | second)",
  primary = "attain ~ verbal + sex + social + (1 | primary)",
  second = "attain ~ verbal + sex + social + (1 | second)",
  nested = "attain ~ verbal + sex + social + (1 | second/primary)",
  ctx_crossed = "attain ~ verbal + sex + social + primary_verbal + (1 | primary) + (1 | second)",
  ctx_second = "attain ~ verbal + sex + social + primary_verbal + (1 | second)"
)

fits <- lapply(formulas, function(f) lmer(as.formula(f), data = sco, REML = TRUE))

summarise <- function(name) {
  m <- fits[[name]]
  vc <- as.data.frame(VarCorr(m))
  list(formula = formulas[[name]], reml = TRUE,
       fixef = named(fixef(m)),
       se = named(setNames(sqrt(diag(as.matrix(vcov(m)))), names(fixef(m)))),
       theta = I(as.vector(getME(m, "theta"))),
       variances = as.list(setNames(vc$vcov, ifelse(vc$grp == "Residual", "Residual", vc$grp))),
       sigma2 = sigma(m)^2,
       reml_criterion = REMLcrit(m),
       loglik = as.numeric(logLik(m)),
       ngrps = as.list(ngrps(m)),
       singular = isSingular(m),
       messages = I(m@optinfo$conv$lme4$messages %||% character(0)))
}

# conditional modes and conditional variances of the crossed model's school effects (the caterpillar plot)
re <- ranef(fits$crossed, condVar = TRUE)
modes <- lapply(c("primary", "second"), function(g) {
  r <- re[[g]]
  list(level = I(rownames(r)), mode = I(r[["(Intercept)"]]),
       cond_var = I(as.vector(attr(r, "postVar"))))
})
names(modes) <- c("primary", "second")

lrt <- function(small, big) {
  a <- anova(fits[[small]], fits[[big]], refit = FALSE)
  list(small = small, big = big, chisq = a$Chisq[2], df = a$Df[2], p = a[["Pr(>Chisq)"]][2],
       deviance = I(a$deviance), npar = I(a$npar))
}
lrt_tests <- list(
  null_second_variance = lrt("null_primary", "null"),
  null_primary_variance = lrt("null_second", "null"),
  second_variance = lrt("primary", "crossed"),
  primary_variance = lrt("second", "crossed")
)

timing <- system.time(for (i in 1:20) lmer(as.formula(formulas[["crossed"]]), data = sco))[["elapsed"]] / 20

out <- list(
  meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
              date = format(Sys.time(), "%Y-%m-%d"),
              notes = I(c("REML fits with lme4's default control, data/scotssec.csv",
                          "variances: as.data.frame(VarCorr(m))$vcov by group; nested groups named primary:second",
                          "lrt: anova(small, big, refit = FALSE)",
                          "seconds_crossed: mean elapsed time of one lmer fit of the crossed model on this machine"))),
  models = lapply(setNames(names(formulas), names(formulas)), summarise),
  ranef_crossed = modes,
  lrt = lrt_tests,
  seconds_crossed = timing
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
cat("wrote", out_file, "\n")
